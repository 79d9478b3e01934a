"""--report DIR: one self-contained HTML page (filled in below)."""

from pathlib import Path
from typing import Sequence


def write(outdir: Path, res: Sequence[object]) -> Path:
    """Write DIR/index.html; its path."""
    outdir.mkdir(parents=True, exist_ok=True)
    page = outdir / "index.html"
    page.write_text(f"<html><body>{len(res)} results</body></html>\n")
    return page
