"""The restricted unpickler: numpy arrays and containers load at every protocol; callables are refused."""

from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest

from hub_datasets import read_mosi
from hub_datasets.safe_pickle import safe_load, safe_loads

CALLS: list[str] = []


def record_call(value: str) -> str:
    CALLS.append(value)
    return value


class CallsFunction:
    """Unpickling this would call ``record_call``."""

    def __reduce__(self):
        return (record_call, ("called",))


class RunsShell:
    def __reduce__(self):
        return (os.system, ("echo unsafe > /dev/null",))


def payload() -> dict:
    return {
        "train": {
            "id": np.array(["a$_$1", "b$_$2"]),
            "bytes_ids": np.array([[b"a_1", b"0", b"1"]]),
            "audio": np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32),
            "objects": np.array([np.zeros((2, 2)), np.ones((3, 2))] + [None], dtype=object)[:2],
            "lengths": [3, np.int64(2)],
            "score": np.float32(1.5),
        },
        "meta": collections.OrderedDict(version=(1, 2), tags={"x"}, frozen=frozenset({1}), raw=b"\x00\xff"),
        "big": np.arange(100_000, dtype=np.float64),
        "dtype": np.dtype("float32"),
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_and_containers_round_trip(protocol):
    original = payload()
    loaded = safe_loads(pickle.dumps(original, protocol=protocol))
    np.testing.assert_array_equal(loaded["train"]["audio"], original["train"]["audio"])
    assert loaded["train"]["id"].tolist() == ["a$_$1", "b$_$2"]
    assert loaded["train"]["bytes_ids"][0, 0] == b"a_1"
    np.testing.assert_array_equal(loaded["train"]["objects"][1], np.ones((3, 2)))
    assert loaded["train"]["lengths"] == [3, 2] and loaded["train"]["score"] == np.float32(1.5)
    assert loaded["meta"] == original["meta"] and isinstance(loaded["meta"], collections.OrderedDict)
    np.testing.assert_array_equal(loaded["big"], original["big"])
    assert loaded["dtype"] == np.dtype("float32")


def test_numpy1_module_paths_are_accepted():
    # numpy 1.x pickles name numpy.core.multiarray (numpy 2 writes numpy._core); protocol 2 writes globals as text
    data = pickle.dumps(np.arange(6, dtype=np.int32).reshape(2, 3), protocol=2)
    old = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"cnumpy.core.multiarray\n" in old
    np.testing.assert_array_equal(safe_loads(old), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_function_call_is_refused_and_not_run(protocol):
    CALLS.clear()
    with pytest.raises(pickle.UnpicklingError, match=r"refused to unpickle global .*record_call"):
        safe_loads(pickle.dumps({"train": [CallsFunction()]}, protocol=protocol))
    assert CALLS == []
    with pytest.raises(pickle.UnpicklingError, match=r"refused to unpickle global (posix|nt|os)\.system"):
        safe_loads(pickle.dumps(RunsShell(), protocol=protocol))
    assert pickle.loads(pickle.dumps(CallsFunction(), protocol=protocol)) == "called"  # the payload is real
    assert CALLS == ["called"]


@pytest.mark.parametrize(
    "name", [b"builtins\neval", b"builtins\ngetattr", b"builtins\n__import__", b"subprocess\nPopen", b"_codecs\ndecode"]
)
def test_other_globals_are_refused(name):
    crafted = b"c" + name + b"\n(S'1'\ntR."
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        safe_loads(crafted)


def test_codecs_encode_only_for_latin1():
    crafted = b"c_codecs\nencode\n(S'x'\nS'rot13'\ntR."
    with pytest.raises(pickle.UnpicklingError, match="only str -> latin-1"):
        safe_loads(crafted)


def test_reader_refuses_malicious_feature_file(tmp_path):
    (tmp_path / "label.csv").write_text(
        "video_id,clip_id,text,label,annotation,mode,label_by\nv,1,HI,1.0,Positive,train,0\n"
    )
    evil = tmp_path / "aligned_50.pkl"
    evil.write_bytes(pickle.dumps({"train": {"id": np.array(["v$_$1"]), "audio": CallsFunction()}}))
    CALLS.clear()
    with pytest.raises(pickle.UnpicklingError, match=r"aligned_50\.pkl: refused to unpickle global"):
        read_mosi(tmp_path, features=evil)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        safe_load(evil)
    assert CALLS == []
