"""Screenshots of the built documentation as a browser shows it (issue 31).

Renders pages of ``docs/_build/html`` in headless Chromium (Debian's ``chromium``
package) at a laptop's width, writes the first screen and the whole page of each as PNG,
and prints, for each page, how tall it is (the document's ``scrollHeight``) and where its
first figure begins (the top of the first image in its content, a notebook's plot), both as
the browser lays the page out.

    sphinx-build -b html docs docs/_build/html
    python docs/screenshots.py                      # into docs/_build/screenshots
    python docs/screenshots.py --pages index.html notebooks/04_at_scale.html
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = [
    "index.html",
    "getting-started.html",
    "notebooks/01_quickstart.html",
    "notebooks/04_at_scale.html",
]
WIDTH, SCREEN, LONGEST = 1280, 800, 16000  # Chromium draws no taller screenshot
CHROMIUM_FLAGS = [  # headless, and no attempt to reach the network from a closed machine
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _browser() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Chromium: apt-get install chromium")
    return browser


def screenshot(page: Path, out: Path, height: int) -> None:
    """``page`` rendered ``WIDTH`` pixels wide and ``height`` tall, saved to ``out``."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [_browser(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={WIDTH},{height}", f"--screenshot={out}", page.as_uri()],
            check=True,
            capture_output=True,
        )  # fmt: skip


_MEASURE = """<script>
window.addEventListener("load", () => {
  const body = document.body;
  body.setAttribute("data-page-height", document.documentElement.scrollHeight);
  const figure = document.querySelector("main img, article img");
  const top = figure ? Math.round(figure.getBoundingClientRect().top + window.scrollY) : -1;
  body.setAttribute("data-first-figure", top);
});
</script></body>"""


def measure(page: Path) -> tuple[int, int | None]:
    """How tall the browser lays ``page`` out at ``WIDTH`` pixels, images loaded, and
    where the first image of its content begins (None: no image). A copy beside it (its
    links and images resolve alike) writes both into the DOM, which Chromium prints."""
    copy = page.with_name(f".measure-{page.name}")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE, 1))
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run(
                [_browser(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 f"--window-size={WIDTH},{SCREEN}", "--virtual-time-budget=5000",
                 "--dump-dom", copy.as_uri()],
                check=True,
                capture_output=True,
                text=True,
            ).stdout  # fmt: skip
    finally:
        copy.unlink()
    found = re.search(r'data-page-height="(\d+)" data-first-figure="(-?\d+)"', dom)
    if found is None:
        raise SystemExit(f"{page}: the browser did not report the page's height")
    height, figure = int(found.group(1)), int(found.group(2))
    return height, figure if figure >= 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=HERE / "_build" / "html")
    parser.add_argument("--out", type=Path, default=HERE / "_build" / "screenshots")
    parser.add_argument("--pages", nargs="*", default=PAGES)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'page':34} {'height (px)':>11} {'first figure at (px)':>21}")
    for name in args.pages:
        stem = name.removesuffix(".html").replace("/", "_")
        page = args.build / name
        screenshot(page, args.out / f"{stem}_screen.png", SCREEN)
        height, figure = measure(page)
        screenshot(page, args.out / f"{stem}_whole.png", min(height, LONGEST))
        cut = f" (drawn to {LONGEST})" if height > LONGEST else ""
        print(f"{name:34} {height:>11} {figure if figure is not None else '-':>21}{cut}")


if __name__ == "__main__":
    main()
