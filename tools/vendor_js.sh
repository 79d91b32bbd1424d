#!/usr/bin/env bash
# Copy the pinned JavaScript the static book needs into the git-ignored _vendor/ folder,
# so that charts and widgets render with no network (no CDN at view time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
(cd js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
N=js/node_modules
rm -rf _vendor.tmp && mkdir -p _vendor.tmp/vega _vendor.tmp/jupyter-widgets _vendor.tmp/mathjax/output/chtml/fonts
cp $N/vega/build/vega.min.js $N/vega-lite/build/vega-lite.min.js \
   $N/vega-embed/build/vega-embed.min.js _vendor.tmp/vega/
cp $N/@jupyter-widgets/html-manager/dist/embed.js _vendor.tmp/jupyter-widgets/
find $N/@jupyter-widgets/html-manager/dist -maxdepth 1 -regex '.*\.\(woff2?\|ttf\|eot\|svg\)' \
     -exec cp {} _vendor.tmp/jupyter-widgets/ \;
cp $N/mathjax/es5/tex-mml-chtml.js _vendor.tmp/mathjax/
cp -r $N/mathjax/es5/output/chtml/fonts/woff-v2 _vendor.tmp/mathjax/output/chtml/fonts/
"$PY" - <<'PY'
import json
from altair.vegalite.v6.display import VEGA_VERSION as V, VEGALITE_VERSION as VL, VEGAEMBED_VERSION as VE
npm = {k: json.load(open(f"js/node_modules/{k}/package.json"))["version"]
       for k in ("vega", "vega-lite", "vega-embed")}
if not (npm["vega"].split(".")[0] == V and npm["vega-embed"].split(".")[0] == VE and npm["vega-lite"] == VL):
    raise SystemExit(f"js/package.json pins {npm} but altair expects vega {V}, vega-lite {VL}, "
                     f"vega-embed {VE}: update js/package.json")
# Altair's HTML output skips loading a library whose version VEGA_DEBUG already announces
open("_vendor.tmp/vega/altair-preload.js", "w").write(
    f"var VEGA_DEBUG = {{vega_version: '{V}', vegalite_version: '{VL}', vegaembed_version: '{VE}'}};\n")
PY
rm -rf _vendor && mv _vendor.tmp _vendor
touch _vendor/.stamp
echo "vendored $(du -sh _vendor | cut -f1) of JavaScript into _vendor/"
