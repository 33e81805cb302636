"""Screenshots of the web demo's two tabs for docs/images/, taken in headless Chromium through selenium.

    python spaces/unimse-demo/screenshots.py [--model demo-output/model] [--out docs/images]

The app (``unimse_hf.app.build_app``) is served on a free port of 127.0.0.1 in this process; the Utterance tab is
shown on its second example, the Dialogue tab on its second example dialogue. Each PNG is 1000 px wide, reduced to
a 256-colour palette. Needs ``apt-get install chromium chromium-driver`` (Debian) and selenium (the ``dev`` extra).
The browser helpers here (:func:`chromium`, :func:`analyse_utterance`, :func:`analyse_dialogue`, ...) are also what
tests/test_app.py drives the app with.
"""

import argparse
import os
import socket
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_COMMAND = "apt-get install -y chromium chromium-driver"
#: Headless, and nothing that reaches the network on its own (updates, sync, QUIC probes): the app runs offline.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-device-scale-factor=1",
)
WIDTH = 1000
#: Palette size of the PNGs for docs/: keeps each well under 150 KB with the score bar's gradient still smooth.
COLOURS = 256
OUTPUT_IDS = {"polarity": "out-polarity", "emotion": "out-emotion", "iemocap_emotion": "out-iemocap"}


def missing_browser() -> str:
    """What is missing to drive the app in Chromium (empty when nothing), with the command that installs it."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install 'unimse-hf[dev]')")
    return f"{', '.join(missing)} not found: {APT_COMMAND}" if missing else ""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def chromium(profile_dir: str | os.PathLike, height: int = 1300):
    """A headless Chromium WebDriver, ``WIDTH`` px wide, with a fresh profile in ``profile_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--window-size={WIDTH},{height}", f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def wait(driver, condition, timeout: float = 60):
    """``condition(driver)``'s first truthy value, polled until ``timeout`` seconds (selenium's WebDriverWait)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def open_app(driver, url: str) -> None:
    """Load the app and wait until the Utterance tab can be typed in."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#utterance-text textarea").is_displayed())


def _value(driver, elem_id: str, tag: str = "textarea") -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{elem_id} {tag}").get_attribute("value")


def _message(driver, elem_id: str) -> str:
    """The text of a warning Markdown, empty while it is hidden."""
    from selenium.webdriver.common.by import By

    shown = [element.text for element in driver.find_elements(By.ID, elem_id) if element.is_displayed()]
    return shown[0].strip() if shown else ""


def shown_utterance(driver) -> dict[str, str]:
    """The Utterance tab's outputs as shown: polarity, score, emotion, iemocap_emotion, generated, confidences (the
    bar chart's text) and message."""
    from selenium.webdriver.common.by import By

    values = {key: _value(driver, elem_id) for key, elem_id in OUTPUT_IDS.items()}
    values["score"] = _value(driver, "out-score", "input")
    values["generated"] = _value(driver, "out-generated")
    values["confidences"] = driver.find_element(By.ID, "out-confidences").text
    values["message"] = _message(driver, "utterance-message")
    return values


def analyse_utterance(
    driver, text: str | None = None, example: int | None = None, video: str | os.PathLike | None = None
) -> dict[str, str]:
    """Clear the Utterance tab, type ``text`` (or click example row ``example``), upload ``video`` (a file path) when
    given, press Analyse and return :func:`shown_utterance` once a polarity or a message is shown."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "tab-utterance-button").click()
    driver.find_element(By.ID, "utterance-clear").click()
    wait(driver, lambda d: not _value(d, "utterance-text") and not _value(d, "out-polarity"))
    if example is not None:
        driver.find_elements(By.CSS_SELECTOR, "#utterance-examples tbody tr")[example].click()
        wait(driver, lambda d: _value(d, "utterance-text"))
    elif text:
        driver.find_element(By.CSS_SELECTOR, "#utterance-text textarea").send_keys(text)
    if video is not None:
        upload_video(driver, video)
    driver.find_element(By.ID, "utterance-submit").click()
    wait(driver, lambda d: _value(d, "out-polarity") or _message(d, "utterance-message"))
    return shown_utterance(driver)


def upload_video(driver, path: str | os.PathLike) -> None:
    """Open the Utterance tab's features accordion, upload the video at ``path`` and wait for its player."""
    from selenium.webdriver.common.by import By

    if not any(element.is_displayed() for element in driver.find_elements(By.ID, "video-file")):
        driver.find_element(By.CSS_SELECTOR, "#utterance-features .label-wrap").click()  # a closed accordion
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#video-file input[type="file"]'))
    driver.find_element(By.CSS_SELECTOR, '#video-file input[type="file"]').send_keys(str(Path(path).resolve()))
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#video-file video"))


def set_dialogue_cell(driver, row: int, column: int, text: str) -> None:
    """Type ``text`` into the dialogue table's cell (``row``, ``column``), replacing what it held."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    selector = f'#dialogue-rows [data-testid="cell-{row}-{column}"]'
    cell = driver.find_element(By.CSS_SELECTOR, selector)
    ActionChains(driver).double_click(cell).perform()
    editor = wait(driver, lambda d: cell.find_element(By.TAG_NAME, "textarea"))
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(text, Keys.ENTER)

    def shows_text(d) -> bool:  # found anew at each poll: some Gradio releases (6.0) render the edited cell again
        try:
            return d.find_element(By.CSS_SELECTOR, selector).text.split("\n")[0] == text
        except StaleElementReferenceException:
            return False

    wait(driver, shows_text)


def analyse_dialogue(driver, example: int | None = None, edits: dict[tuple[int, int], str] | None = None):
    """On the Dialogue tab, click example dialogue ``example`` (default: keep the table), type ``edits`` (``{(row,
    column): text}``), press Analyse dialogue and return the result table's rows as shown (lists of cell texts)."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "tab-dialogue-button").click()
    wait(driver, lambda d: d.find_element(By.ID, "dialogue-submit").is_displayed())
    if example is not None:
        driver.find_elements(By.CSS_SELECTOR, "#dialogue-examples button")[example].click()
    for (row, column), text in (edits or {}).items():
        set_dialogue_cell(driver, row, column, text)
    driver.find_element(By.ID, "dialogue-submit").click()
    cells = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#dialogue-results [data-testid^="cell-"]'))
    rows: dict[int, dict[int, str]] = {}
    for cell in cells:  # data-testid "cell-{row}-{column}"
        row, column = map(int, cell.get_attribute("data-testid").split("-")[1:3])
        rows.setdefault(row, {})[column] = cell.text.split("\n")[0]
    return [[row[column] for column in sorted(row)] for _, row in sorted(rows.items())]


def save_png(driver, path: str | os.PathLike, until: str | None = None, colours: int | None = None) -> Path:
    """Screenshot of the page from the top down to the bottom of the element with id ``until`` (default: the whole
    page), the window grown to fit it, without a scroll bar; ``colours``: reduced to a palette of that many colours
    (small files for docs/)."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    driver.execute_script("window.scrollTo(0, 0); document.documentElement.style.overflow = 'hidden'")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, height)
    if until is not None:
        rect = driver.find_element(By.ID, until).rect
        height = min(height, int(rect["y"] + rect["height"]) + 16)
    path = Path(path)
    driver.save_screenshot(str(path))
    with Image.open(path) as image:
        image = image.convert("RGB").crop((0, 0, image.width, min(height, image.height)))
    if colours:
        image = image.quantize(colours, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: as `unimse-hf app`)")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="folder of the PNGs (docs/images)")
    args = parser.parse_args(argv)
    if missing_browser():
        raise SystemExit(f"screenshots: {missing_browser()}")
    if not args.out.is_dir():
        raise SystemExit(f"screenshots: --out must be an existing folder, got {str(args.out)!r}")
    import tempfile

    from unimse_hf.app import build_app, launch

    app = build_app(args.model)
    port = free_port()
    launch(app, port=port, prevent_thread_lock=True, quiet=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium(profile)
        try:
            open_app(driver, f"http://127.0.0.1:{port}/")
            print("utterance:", analyse_utterance(driver, example=1))
            print("wrote", save_png(driver, args.out / "app_utterance.png", "out-generated", COLOURS))
            print("dialogue:", analyse_dialogue(driver, example=1))
            print("wrote", save_png(driver, args.out / "app_dialogue.png", "dialogue-plot", COLOURS))
        finally:
            driver.quit()
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
