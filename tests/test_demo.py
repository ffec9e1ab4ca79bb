"""`make demo` runs the same code: the demo on a temporary home gives the expected summary."""
import os

from pipeline.demo import run_demo
from pipeline.settings import PROJECT_ROOT, load_settings


def test_demo_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDC")}
    env["IDC_HOME"] = str(tmp_path / "home")
    settings = load_settings(PROJECT_ROOT / "config" / "demo-iceland.toml", env=env)
    lines: list[str] = []
    out = run_demo(settings, echo=lines.append)
    text = "\n".join(lines)
    assert out["ingest"]["accepted"] == 27 and out["ingest"]["rejected"] == 0
    av = out["availability"]
    assert len(av) == 36 and {c["gaps"] for c in av} == {3}
    assert "== archive: 12 stations, 36 channels" in text
    assert (settings.products_dir / "demo").glob("record_section_*.png")
    assert any(p.stat().st_size > 10_000 for p in (settings.products_dir / "demo").glob("*.png"))
    again = run_demo(settings, echo=lambda m: None)  # idempotent re-run
    assert again["ingest"]["accepted"] == 0 and again["ingest"]["already_ingested"] == 27
