"""Check that the published asv dashboard renders in a real browser.

    python benchmarks/check_dashboard.py [--html .asv/html] [--out dashboard.png]

Serves the published HTML on localhost (as ``asv preview`` does), loads a
benchmark's graph page in headless Chromium, saves a screenshot, and fails
unless the graph area holds a rendered plot (enough coloured, non-background
pixels).  Needs Debian's ``chromium`` (or ``chromium-browser`` /
``google-chrome``) and Pillow or matplotlib to read the PNG.

asv's page loads jQuery, flot, bootstrap and small plugins from public CDNs.
With ``--vendor`` (for machines without internet access) the page is served
from a temporary copy whose CDN references point at the system's packaged
copies (Debian: libjs-jquery, libjs-jquery-flot, libjs-bootstrap,
node-blueimp-md5) and two no-op shims for table sorting and bar ordering.
"""
import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import re
import tempfile
import threading

SYSTEM_JS = "/usr/share/javascript"
# CDN file name -> packaged file (relative to SYSTEM_JS), or a shim's source
VENDOR = {
    "jquery-3.3.1.min.js": "jquery/jquery.min.js",
    "jquery.flot.min.js": "jquery-flot/jquery.flot.pack.js",   # core + plugins
    "jquery.flot.time.min.js": "",                             # in the pack
    "jquery.flot.selection.min.js": "",
    "jquery.flot.categories.min.js": "",
    "jquery.flot.orderBars.js": "",
    "stupidtable.min.js": "(function($){$.fn.stupidtable=function(){return this;};})(jQuery);",
    "md5.min.js": "blueimp-md5/md5.min.js",
    "bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
}


def vendored_copy(html_dir):
    """A temporary copy of the dashboard whose CDN references are local."""
    tmp = tempfile.mkdtemp(prefix="asv-html-")
    dst = os.path.join(tmp, "html")
    shutil.copytree(html_dir, dst)
    os.makedirs(os.path.join(dst, "_vendor"))
    for name, source in VENDOR.items():
        path = os.path.join(SYSTEM_JS, source) if source.endswith((".js", ".css")) else None
        with open(os.path.join(dst, "_vendor", name), "w") as f:
            if path:
                if not os.path.exists(path):
                    raise SystemExit(f"{path} missing: apt-get install libjs-jquery "
                                     "libjs-jquery-flot libjs-bootstrap node-blueimp-md5")
                with open(path) as src:
                    f.write(src.read())
            else:
                f.write(source)
    index = os.path.join(dst, "index.html")
    with open(index) as f:
        text = f.read()

    def local(m):
        name = m.group(2).rsplit("/", 1)[-1]
        return f'{m.group(1)}="_vendor/{name}"' if name in VENDOR else m.group(0)
    text = re.sub(r'(src|href)="(https://[^"]+)"', local, text)
    text = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", text)
    with open(index, "w") as f:
        f.write(text)
    return dst


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install chromium")


def _read_png(path):
    try:
        from PIL import Image
        import numpy as np
        return np.asarray(Image.open(path).convert("RGB"))
    except ImportError:
        import matplotlib.image as mpimg
        import numpy as np
        img = mpimg.imread(path)
        return (img[..., :3] * 255).astype(np.uint8)


def coloured_fraction(img):
    """Fraction of pixels that are clearly coloured (not white/grey/black):
    the plotted series and their markers."""
    import numpy as np
    rgb = img.astype(int)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float((spread > 60).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", default=".asv/html")
    ap.add_argument("--out", default="dashboard.png")
    ap.add_argument("--benchmark", default="benchmarks.Forward.time_op")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--vendor", action="store_true",
                    help="serve jQuery/flot/bootstrap from the system's packages (offline)")
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.html, "index.html")):
        raise SystemExit(f"no published dashboard in {args.html}: run asv publish first")
    root = vendored_copy(args.html) if args.vendor else args.html
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{args.port}/#{args.benchmark}"
    cmd = [_browser(), "--headless=new", "--no-sandbox", "--disable-gpu",
           "--hide-scrollbars", "--window-size=1400,1000", "--virtual-time-budget=15000",
           f"--screenshot={os.path.abspath(args.out)}", url]
    try:
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    finally:
        server.shutdown()
    frac = coloured_fraction(_read_png(args.out))
    ok = frac > 0.002
    print(f"{url}: screenshot {args.out}, coloured (plotted) pixels {100 * frac:.2f}% "
          f"-> {'graph rendered' if ok else 'NO GRAPH RENDERED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
