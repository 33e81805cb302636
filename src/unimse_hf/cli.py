"""The ``unimse-hf`` command line. One ``_add_<command>_parser`` function per subcommand."""

import argparse
import sys
from pathlib import Path


def _convert_official(args: argparse.Namespace) -> int:
    import torch

    from .convert_official import load_official_state_dict

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise SystemExit(f"convert-official: CKPT {str(checkpoint)!r} is not a file")
    state_dict = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if isinstance(state_dict, dict) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    try:
        model = load_official_state_dict(state_dict)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"convert-official: {error}") from error
    model.save_pretrained(args.out_dir)
    print(f"converted {sum(p.numel() for p in model.parameters()):,} parameters -> {args.out_dir} "
          f"(fusion blocks {model.config.fusion_layers}, fusion_in_decoder={model.config.fusion_in_decoder})")
    return 0


def _add_convert_official_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-official",
        help="convert a checkpoint of the official UniMSE code to a save_pretrained folder",
        description="Convert a torch.save'd state dict of the official UniMSE Model (LeMei/UniMSE) into a "
        "UniMSEForConditionalGeneration folder (safetensors). The checkpoint is loaded with weights_only=True.",
    )
    parser.add_argument("checkpoint", metavar="CKPT", help="torch.save'd state dict of the official Model")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the converted model to")
    parser.set_defaults(handler=_convert_official)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unimse-hf", description="UniMSE for the Hugging Face ecosystem")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_convert_official_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
