"""The HTML report with episode replays, from real runs on Overcooked: self-contained, and checked
in headless Chromium (every image decodes, no horizontal scrolling on a 1366 px laptop screen)."""
import base64
import io
import json
import re
import shutil
import subprocess

import pytest

from harness import replay
from harness.config import resolve_grid
from harness.protocol import run
from harness.storage import Store
from reports import comparison

LAPTOP = (1366, 768)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const m = document.createElement('pre'); m.id = 'browser-check';
  m.textContent = JSON.stringify({images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth});
  document.body.appendChild(m);
});
</script>"""


@pytest.fixture(scope="module")
def replay_report(tmp_path_factory):
    """ppo (trains: before and after) and random (nothing to train) on Tomato Salad, replayed."""
    out = tmp_path_factory.mktemp("browser")
    common = {"envs": "overcooked/tomato-salad", "seeds": "0", "total_steps": "256",
              "eval_every": "256", "eval_episodes": "1", "num_envs": "2", "tensorboard": "false",
              "out_dir": str(out)}
    run_ids = []
    for method, extra in (("ppo", {"num_steps": "64", "minibatch_size": "64"}), ("random", {})):
        (config,) = resolve_grid({"methods": method, **common, **extra})
        run(config, Store(config.store), progress=False)
        run_ids.append(config.run_id)
    assert replay.record_after_run(config.store, out, run_ids) == "replays recorded for 2 run(s)"
    return out, comparison.write_report(config.store, out, reps=50)


def chromium(*args, timeout=60):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
                           "--hide-scrollbars", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_report_embeds_the_replays_and_their_gifs(replay_report):
    out, html_path = replay_report
    html = html_path.read_text()
    assert "Episode replays" in html and "Before training (step 0, zero-shot)" in html
    assert "After training (step 256)" in html and "The policy (nothing to train)" in html
    gifs = re.findall(r"src='data:image/gif;base64,([^']+)'", html)
    assert len(gifs) == 3  # ppo before + after, random
    from PIL import Image

    for data in gifs:
        assert Image.open(io.BytesIO(base64.b64decode(data))).n_frames >= 2
    # one bar per offered action of every shown step (Tomato Salad offers 5), chosen ones marked
    store = Store(f"sqlite:///{out / 'results.db'}")
    shown = [min(len(r["steps"]), 60) for r in store.replays()]
    assert html.count("<td class='bar'><span style='width:") == 5 * sum(shown)
    assert html.count("<tr class='chosen'>") == sum(shown)
    assert "src='plots/" not in html and "http" not in html.split("<body>")[1]  # self-contained
    md = (out / "report.md").read_text()
    for name in re.findall(r"\(plots/(replay-[^)]+\.gif)\)", md):
        assert (out / "plots" / name).read_bytes()[:6] == b"GIF89a"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install "
                    "chromium), so the HTML report was not opened in a browser")
def test_the_report_renders_in_headless_chromium(replay_report, tmp_path):
    _, html_path = replay_report
    checked = tmp_path / "checked.html"
    checked.write_text(html_path.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', dom.stdout)
    assert found, f"no check marker in Chromium's DOM; stderr: {dom.stderr[-800:]}"
    check = json.loads(found.group(1))
    assert check["images"] >= 4  # the curves PNG and three GIFs
    assert check["decoded"] == check["images"], check
    assert check["scrollWidth"] <= check["innerWidth"], f"wider than a laptop screen: {check}"

    shot = tmp_path / "shot.png"
    result = chromium(f"--screenshot={shot}", html_path.as_uri())
    assert shot.exists(), result.stderr[-800:]
    from PIL import Image, ImageStat

    image = Image.open(shot)
    assert image.size == LAPTOP
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 10  # text and plots, not a blank page
