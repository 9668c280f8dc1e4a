"""One self-contained HTML page for an evaluation: what a person looks at first.

evaluate_liveness.py writes it beside metrics.json: the summary at frame and
video level, the ROC/DET plot, the per-person rows, and, with
--save-failures, a strip of the worst misclassified faces (live faces with the
lowest scores, attacks with the highest). Images are embedded, so the one
file can be mailed or attached to a ticket.
"""
import base64
import datetime
import html

import cv2

from liveness.faces.crops import preview

FIGURES = (("APCER", "apcer"), ("BPCER", "bpcer"), ("ACER", "acer"), ("BPCER20", "bpcer20"),
           ("BPCER100", "bpcer100"), ("EER", "eer"), ("AUC", "auc"))
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
td.bad { background: #fde2e2; } td.good { background: #e3f6e3; }
img.plot { max-width: 100%; border: 1px solid #ddd; }
.strip { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; text-align: center; font-size: 0.8em; }
figure img { height: 110px; border: 3px solid #c33; image-rendering: pixelated; }
"""


def _fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


def _rate_cell(value, limit=0.05):
    if value is None:
        return "<td>n/a</td>"
    return f'<td class="{"good" if value <= limit else "bad"}">{value:.4f}</td>'


def _png_data(image):
    ok, encoded = cv2.imencode(".png", image)
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode() if ok else ""


def worst_failures(rows, decisions, bona_fide, count=12):
    """The misclassified faces furthest from the threshold's right side: low-scored live, high-scored attacks."""
    wrong = [(r, d) for r, d in zip(rows, decisions) if r.roi is not None and d in ("real", "fake")
             and (d == "real") != (r.label == bona_fide)]
    wrong.sort(key=lambda rd: rd[0].score if rd[0].label == bona_fide else -rd[0].score)
    return [r for r, _ in wrong[:count]]


def summary_table(levels):
    head = "".join(f"<th>{name}</th>" for name, _ in FIGURES)
    body = []
    for title, s in levels:
        types = "<br>".join(f"{html.escape(k)}: {_fmt(v)}" for k, v in s["apcer_per_type"].items())
        cells = "".join(_rate_cell(s[key]) if key in ("apcer", "bpcer", "acer") else f"<td>{_fmt(s[key])}</td>"
                        for _, key in FIGURES)
        body.append(f"<tr><td>{title}</td><td>{s['count']}</td><td>{s['bona_fide']}</td><td>{s['attacks']}</td>{cells}"
                    f"<td>{types or 'n/a'}</td></tr>")
    return (f"<table><tr><th>level</th><th>faces</th><th>live</th><th>attacks</th>{head}<th>APCER per attack type</th></tr>"
            + "".join(body) + "</table>")


def person_table(per_subject):
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{g['count']}</td><td>{g['bona_fide']}</td><td>{g['attacks']}</td>"
                   f"{_rate_cell(g['apcer'])}{_rate_cell(g['bpcer'])}<td>{_fmt(g['auc'])}</td><td>{g['mean_score']:.3f}</td></tr>"
                   for name, g in per_subject.items())
    return ("<table><tr><th>person</th><th>faces</th><th>live</th><th>attacks</th><th>APCER</th><th>BPCER</th><th>AUC</th>"
            f"<th>mean score</th></tr>{rows}</table>")


def failure_strip(failures, bona_fide, saved_to):
    if saved_to is None:
        return "<p>Run with <code>--save-failures DIR</code> to see the worst misclassified faces here.</p>"
    if not failures:
        return "<p>No face was misclassified.</p>"
    figures = []
    for r in failures:
        what = "live, rejected" if r.label == bona_fide else f"{html.escape(r.label)}, accepted"
        figures.append(f'<figure><img src="{_png_data(preview(r.roi))}" alt="{what}"><figcaption>{what}<br>'
                       f"score {r.score:.3f}<br>{html.escape(r.recording)} #{r.frame}</figcaption></figure>")
    return f'<div class="strip">{"".join(figures)}</div><p class="meta">All of them: {html.escape(saved_to)}</p>'


def render(results, roc_det_png, failures, saved_to):
    """The page as a string, from evaluate_liveness.py's results dict and the ROC/DET image bytes."""
    plot = "data:image/png;base64," + base64.b64encode(roc_det_png).decode()
    threshold = f"{results['threshold']:.4f} ({html.escape(str(results['threshold_source']))})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Liveness evaluation</title><style>{STYLE}</style></head>
<body>
<h1>Liveness evaluation</h1>
<p class="meta">model <code>{html.escape(results['model'])}</code><br>dataset <code>{html.escape(results['dataset'])}</code><br>
liveness threshold {threshold}; crop {html.escape(str(results['crop_scale']))} ({html.escape(str(results.get('crop_rule', 'clip')))}),
input {results['input_size'][0]}x{results['input_size'][1]}; {results['faces']} faces, {results['frames_without_face']} frames
without a face, {results['excluded_faces']} left out; {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>
<h2>Summary (ISO/IEC 30107-3)</h2>
{summary_table([('frame', results['frame_level']), ('video', results['video_level'])])}
<p class="meta">APCER: attacks accepted as live (the worst attack type counts). BPCER: live faces rejected. ACER: their mean.
Green: at most 0.05.</p>
<h2>ROC and DET</h2>
<img class="plot" src="{plot}" alt="ROC and DET curves">
<h2>Per person</h2>
{person_table(results['per_subject'])}
<h2>Worst misclassified faces</h2>
{failure_strip(failures, results['bona_fide'], saved_to)}
</body></html>
"""
