"""The report's one HTML page, as a Jinja2 template (autoescaped).

Kept in a module rather than a file beside it, so an installed package always has it.
Everything is inline: styles, charts, pictures (``data:`` URIs) and one short script that
marks pictures the browser could not show and records how many it did (``data-pictures`` on
``<body>``, which the tests read from headless Chromium).
"""

from __future__ import annotations

from typing import Final

TEMPLATE: Final = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="scangrade report">
<title>Batch {{ data.name }}: teachers' report</title>
<style>
:root { --correct: #1a9641; --wrong: #d7191c; --unanswered: #8c8c8c; --ungraded: #e69f00;
        --partial: #2c7bb6; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1em 2em 4em;
       max-width: 1100px; color: #222; }
h1 { margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
.summary { color: #555; margin-top: 0; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em;
            vertical-align: -.1em; border-radius: 2px; }
.legend .r1 { background: var(--correct); } .legend .r2 { background: var(--wrong); }
.legend .r3 { background: var(--unanswered); } .legend .r4 { background: var(--partial); }
.legend .overridden { border: 3px double #222; width: .5em; height: .5em; }
.legend .r0 { border: 2px dashed var(--ungraded); width: .6em; height: .6em; }
svg.chart { max-width: 100%; height: auto; font-size: 13px; }
svg.chart text { dominant-baseline: middle; }
svg.chart .label { text-anchor: end; } svg.chart .track { fill: #f1f1f1; }
svg.chart .r1 { fill: var(--correct); } svg.chart .r2 { fill: var(--wrong); }
svg.chart .r3 { fill: var(--unanswered); } svg.chart .r4 { fill: var(--partial); }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e3e3e3; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
tbody tr:hover { background: #f7f7f7; }
.student { margin-top: 2.5em; } .student h3 { margin-bottom: .3em; }
figure.page { margin: 1.2em 0 2em; break-inside: avoid; }
.sheet { position: relative; display: inline-block; max-width: 100%;
         box-shadow: 0 1px 4px rgba(0, 0, 0, .3); }
.sheet img { display: block; max-width: 100%; height: auto; }
.sheet svg.overlay { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.overlay rect { fill: none; stroke-width: 2.5; vector-effect: non-scaling-stroke; }
.overlay rect.slot { stroke-width: 1.5; fill-opacity: .18; }
.overlay .r1 { stroke: var(--correct); } .overlay rect.slot.r1 { fill: var(--correct); }
.overlay .r2 { stroke: var(--wrong); } .overlay rect.slot.r2 { fill: var(--wrong); }
.overlay .r3 { stroke: var(--unanswered); } .overlay rect.slot.r3 { fill: var(--unanswered); }
.overlay .r4 { stroke: var(--partial); } .overlay rect.slot.r4 { fill: var(--partial); }
.overlay rect.overridden { stroke-width: 5; stroke-dasharray: 10 3; }
.overlay .r0 { stroke: var(--ungraded); stroke-dasharray: 6 4; }
.overlay text.tag { stroke: none; font-weight: bold; }
.overlay text.r1 { fill: var(--correct); } .overlay text.r2 { fill: var(--wrong); }
.overlay text.r3 { fill: var(--unanswered); } .overlay text.r0 { fill: var(--ungraded); }
.overlay text.r4 { fill: var(--partial); }
.missing, .broken .sheet::after { display: block; padding: 3em 1em; background: #fafafa;
         border: 1px dashed #bbb; color: #a00; text-align: center; }
.broken .sheet::after { content: "this picture could not be shown"; }
figcaption { color: #555; margin-top: .4em; }
figcaption .failed, .review { color: #a00; }
</style>
</head>
<body data-pictures="pending">
<h1>Batch {{ data.name }}</h1>
<p class="summary">{{ data.pages | length }} pages, {{ data.students | length }} students,
{{ data.classes | length }} classes{% if data.missing %}, {{ data.missing | length }} folders
with no scans (<a href="#missing">missing work</a>){% endif %}{% if data.failed %},
{{ data.failed | length }} files that gave no page (<a href="#failed">why</a>){% endif %}
{%- if data.label_gaps %},
{{ data.label_gaps | length }} <a href="#labels">findings in labelled work</a>{% endif %};
{% set q, sl = data.total_questions, data.total_slots %}
{{ q.graded }} questions and {{ sl.graded }} answer slots graded:
<span class="rate">{{ q.label }} {{ percent(q.rate) }}</span>,
<span class="rate">{{ sl.label }} {{ percent(sl.rate) }}</span> ({{ rule }}).
{% if q.overridden or sl.overridden %}Grades set by a teacher: {{ q.overridden }} of the
questions, {{ sl.overridden }} of the slots.{% endif %}
{% if data.to_review %}<span class="review">{{ data.to_review }} grades set on an earlier scan
need review on the rescanned pages.</span>{% endif %}
Batch {{ data.state }}{% if data.finished_at %}
(finished {{ data.finished_at.strftime("%Y-%m-%d %H:%M") }}){% endif %}; report written
{{ written }}.</p>
<p class="legend"><span><i class="r1"></i>correct</span><span><i class="r4"></i>partial</span>
<span><i class="r2"></i>wrong</span><span><i class="r3"></i>unanswered</span>
<span><i class="r0"></i>not graded</span>
<span><i class="overridden"></i>grade set by a teacher</span></p>

<h2 id="classes">Correct rates per class</h2>
<p class="summary">Each bar shows the questions by their grades; beside it, the correct rate
per question and the correct rate per answer slot, with how many were graded.</p>
{{ class_chart }}
<h2 id="questions">Correct rates per question, across students</h2>
{% if data.questions %}{{ question_chart }}{% else %}<p>No graded questions.</p>{% endif %}

<h2 id="students">Students</h2>
<table>
<thead><tr><th>Class</th><th>Student</th><th>Pages</th><th>Questions</th><th>Correct</th>
<th>Partial</th><th>Wrong</th><th>Unanswered</th><th>Not graded</th>
<th>Correct rate per question</th><th>Correct rate per slot</th>
<th>Set by a teacher (questions / slots)</th>
</tr></thead>
<tbody>
{% for student in data.students %}{% set t, sl = student.row.questions, student.row.slots %}
<tr><td>{{ student.row.class_name }}</td>
<td><a href="#student-{{ loop.index }}">{{ student.row.label }}</a></td>
<td>{{ student.row.pages }}</td><td>{{ t.total }}</td><td>{{ t.correct }}</td>
<td>{{ t.partial }}</td><td>{{ t.wrong }}</td><td>{{ t.unanswered }}</td>
<td>{{ t.not_graded }}</td><td>{{ percent(t.rate) }}</td><td>{{ percent(sl.rate) }}</td>
<td>{{ t.overridden }} / {{ sl.overridden }}</td></tr>
{% endfor %}
</tbody>
</table>

{% if data.missing %}
<h2 id="missing">Missing work</h2>
<table>
<thead><tr><th>Class</th><th>Student</th><th>Folder</th><th>Why</th></tr></thead>
<tbody>
{% for folder in data.missing %}
<tr class="missing-work"><td>{{ folder.class_name }}</td><td>{{ folder.student }}</td>
<td>{{ folder.rel_path }}</td><td>{{ folder.reason }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}

{% if data.failed %}
<h2 id="failed">Files that gave no page</h2>
<table>
<thead><tr><th>Class</th><th>Student</th><th>File</th><th>Why</th></tr></thead>
<tbody>
{% for file in data.failed %}
<tr class="failed-file"><td>{{ file.class_name }}</td><td>{{ file.student }}</td>
<td>{{ file.rel_path }}</td><td>{{ file.reason }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}

{% if data.label_gaps %}
<h2 id="labels">Labelled work: missing, extra and replaced pages</h2>
<table>
<thead><tr><th>Class</th><th>Student</th><th>Assignment</th><th>Page</th><th>What</th></tr>
</thead>
<tbody>
{% for gap in data.label_gaps %}
<tr class="label-{{ gap.kind }}"><td>{{ gap.class_name or "—" }}</td>
<td>{{ gap.student or "" }}</td><td>{{ gap.assignment or "" }}</td>
<td>{{ gap.label_page or "" }}</td><td>{{ gap.kind }}: {{ gap.reason() }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}

<h2 id="pages">Pages</h2>
{% for student in data.students %}
<section class="student" id="student-{{ loop.index }}">
<h3>{{ student.row.class_name }} · {{ student.row.label }}</h3>
{% for page in student.pages %}{% set pic = picture(page) %}
<figure class="page" id="page-{{ page.page_id }}">
{% if pic.data_uri is defined %}
<div class="sheet"><img class="scan" src="{{ pic.data_uri }}" width="{{ pic.width }}"
 height="{{ pic.height }}" alt="{{ page.rel_path }}, page {{ page.page_no }}">
{{ overlay(page, pic) }}</div>
{% else %}<div class="missing">{{ pic.reason }}</div>{% endif %}
<figcaption>{{ page.rel_path }}, page {{ page.page_no }}
{%- if page.label %} ({{ page.label }} by its label
{%- if page.turned %}, turned {{ page.turned }}° upright{% endif %}){% endif %}:
{% set t = page.questions %}
{{- t.correct }} correct,{% if t.partial %} {{ t.partial }} partial,{% endif %}
{{ t.wrong }} wrong, {{ t.unanswered }} unanswered questions
{%- if t.not_graded %}, {{ t.not_graded }} not graded{% endif %};
{{ page.slots.label }} {{ percent(page.slots.rate) }}
{%- if t.overridden or page.slots.overridden %}; <span class="overridden">grades set by a
teacher: {{ t.overridden }} of the questions, {{ page.slots.overridden }} of the slots</span>
{%- endif %}
{%- if page.state != "done" %}; <span class="failed">{{ page.state }}
{%- if page.error %}: {{ page.error }}{% endif %}</span>{% endif %}.
{%- for item in page.to_review %}
<br><span class="review">needs review: on the earlier scan {{ item.override.username }} set
Q{{ item.old.question_seq + 1 }}{% if item.old.slot_seq is not none %}.{{ item.old.slot_seq }}
{%- endif %} to {{ item.override.grade }}{% if item.override.comment %}
({{ item.override.comment }}){% endif %}</span>
{%- endfor %}</figcaption>
</figure>
{% endfor %}
</section>
{% endfor %}
<script>
addEventListener("load", () => {
  const pictures = [...document.querySelectorAll("img.scan")];
  let shown = 0;
  for (const img of pictures) {
    if (img.complete && img.naturalWidth > 0) shown += 1;
    else img.closest("figure").classList.add("broken");
  }
  document.body.dataset.pictures = shown + "/" + pictures.length;
});
</script>
</body>
</html>
"""
