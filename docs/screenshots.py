"""Screenshots of the built documentation as a browser shows it (issue 31).

Renders pages of ``docs/_build/html`` in headless Chromium (Debian's ``chromium``
package) at a laptop's width, writes the first screen and a tall view of each as PNG, and
prints, for each page, how tall its content is and where its first figure begins:
matplotlib's default orange and blue, filled over a whole bar (a line of text or a link
never fills 150 pixels of a row).

    sphinx-build -b html docs docs/_build/html
    python docs/screenshots.py                      # into docs/_build/screenshots
    python docs/screenshots.py --pages index.html notebooks/04_at_scale.html
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
PAGES = [
    "index.html",
    "getting-started.html",
    "notebooks/01_quickstart.html",
    "notebooks/04_at_scale.html",
]
WIDTH, SCREEN, TALL = 1280, 800, 12000
FIGURE_COLOURS = np.array([(255, 127, 14), (31, 119, 180)])  # tab:orange, tab:blue
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


def screenshot(page: Path, out: Path, height: int) -> np.ndarray:
    """``page`` rendered ``WIDTH`` pixels wide and ``height`` tall, saved to ``out``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={WIDTH},{height}", f"--screenshot={out}", page.as_uri()],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.int32)


def content_height(pixels: np.ndarray) -> int:
    """The last row that is not the page's background."""
    background = pixels[-1, WIDTH // 2]
    rows = np.nonzero((np.abs(pixels - background).sum(axis=2) > 30).any(axis=1))[0]
    return int(rows[-1]) + 1 if rows.size else 0


def first_figure(pixels: np.ndarray) -> int | None:
    """The first row with at least 150 pixels of a figure's orange or blue, or None."""
    near = np.zeros(pixels.shape[:2], dtype=bool)
    for colour in FIGURE_COLOURS:
        near |= np.abs(pixels - colour).sum(axis=2) < 40
    rows = np.nonzero(near.sum(axis=1) >= 150)[0]
    return int(rows[0]) if rows.size else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=HERE / "_build" / "html")
    parser.add_argument("--out", type=Path, default=HERE / "_build" / "screenshots")
    parser.add_argument("--pages", nargs="*", default=PAGES)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'page':34} {'content (px)':>12} {'first figure at (px)':>21}")
    for name in args.pages:
        stem = name.removesuffix(".html").replace("/", "_")
        page = args.build / name
        screenshot(page, args.out / f"{stem}_screen.png", SCREEN)
        tall = screenshot(page, args.out / f"{stem}_tall.png", TALL)
        figure = first_figure(tall)
        print(f"{name:34} {content_height(tall):>12} {figure if figure is not None else '-':>21}")


if __name__ == "__main__":
    main()
