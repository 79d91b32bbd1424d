"""Compare what two executed versions of the book's chapters render: every output of
every code cell, in order, with the random element ids of Altair charts and pandas
Stylers and object addresses masked.

    python benchmarks/compare_rendered.py BEFORE_STAGE AFTER_STAGE single_weight paper_claims

A stage is a folder holding book/<chapter>.ipynb as executed (`_build/executed`, or the
``--keep`` folder of ``benchmarks/book_memory.py chapters``).
"""
import json, sys, re
from pathlib import Path

def outputs(path):
    nb = json.loads(Path(path).read_text())
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "injected-parameters" in cell["metadata"].get("tags", []):
            continue
        items = []
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                items.append(("stream", "".join(o["text"])))
            elif o["output_type"] in ("display_data", "execute_result"):
                data = {k: ("".join(v) if isinstance(v, list) else json.dumps(v, sort_keys=True))
                        for k, v in o["data"].items()}
                items.append(("data", re.sub(r" at 0x[0-9a-f]+", " at 0xADDR", re.sub(r"T_[0-9a-f]{5}", "T_ID", re.sub(r"altair-viz-[0-9a-f]{32}", "altair-viz-ID", json.dumps(data, sort_keys=True))))))
            elif o["output_type"] == "error":
                items.append(("error", o["ename"] + o["evalue"]))
        out.append(items)
    return out

before, after = Path(sys.argv[1]), Path(sys.argv[2])
for name in sys.argv[3:]:
    a, b = outputs(before / f"book/{name}.ipynb"), outputs(after / f"book/{name}.ipynb")
    same = sum(x == y for x, y in zip(a, b))
    print(f"{name}: {same} of {len(a)} code cells render identically ({len(b)} after)")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"  cell {i} differs:")
            for (kx, vx), (ky, vy) in zip(x, y):
                if vx != vy:
                    # show the first differing stretch
                    j = next((k for k in range(min(len(vx), len(vy))) if vx[k] != vy[k]), min(len(vx), len(vy)))
                    print(f"    before: ...{vx[max(0,j-150):j+150]!r}")
                    print(f"    after:  ...{vy[max(0,j-150):j+150]!r}")
                    break
            if len(x) != len(y):
                print(f"    {len(x)} outputs before, {len(y)} after")
