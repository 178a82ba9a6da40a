"""The dashboard's HTML (Jinja, autoescaped), CSS and ~40 lines of JavaScript. No build step.

The page is rendered on the server; the script re-fetches the server-rendered
fragment every 1.5 s with If-None-Match and swaps it in when it changed (the
htmx pattern, without a dependency that an offline workshop would have to
fetch). A strict Content-Security-Policy allows only these same-origin files.
"""

LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lab cohort {{ name }}: sign in</title><link rel="stylesheet" href="/_cohort/static/dashboard.css"></head>
<body class="login"><main>
<h1>lab cohort <code>{{ name }}</code></h1>
<p>Facilitators only: paste the facilitator token that <code>lab cohort init</code> printed
(<code>lab cohort token --rotate</code> makes a new one).</p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/_cohort/login">
<label for="token">Facilitator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open the dashboard</button>
</form></main></body></html>
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lab cohort {{ grid.cohort.name }}</title><link rel="stylesheet" href="/_cohort/static/dashboard.css"></head>
<body>
<header>
<h1>lab cohort <code>{{ grid.cohort.name }}</code></h1>
<span class="meta">{{ grid.cohort.learners }} learners · {{ mode }}</span>
<span id="live-status" class="live" role="status">Live</span>
<nav>
<a href="/_cohort/api/grades.csv{{ query }}" download data-testid="download-csv">Grades CSV</a>
<a href="/_cohort/api/grades.json{{ query }}" download>Grades JSON</a>
<form method="post" action="/_cohort/logout"><button type="submit" class="link">Sign out</button></form>
</nav>
</header>
<main id="dashboard" data-etag="{{ etag }}">{{ fragment|safe }}</main>
<script src="/_cohort/static/dashboard.js"></script>
</body></html>
"""

FRAGMENT = """
<section id="labs" aria-label="Labs">
{% for lab in grid.labs %}
<div class="lab-card" data-lab="{{ lab.id }}">
  <h2>{{ lab.title }} <code>{{ lab.id }}</code></h2>
  <p><strong data-testid="complete-{{ lab.id }}">{{ lab.complete }}</strong>/{{ lab.learners }} complete ·
     {{ lab.started - lab.complete }} in progress · {{ lab.learners - lab.started }} not started</p>
  <progress value="{{ lab.complete }}" max="{{ lab.learners or 1 }}" aria-label="complete"></progress>
  {% if shared %}<button type="button" data-grade-lab="{{ lab.id }}" {% if grading.running %}disabled{% endif %}>Grade every account now</button>{% endif %}
</div>
{% endfor %}
{% if grading.lab %}<p class="grading" data-testid="grading">{% if grading.running %}Grading {{ grading.lab }}: {{ grading.done }}/{{ grading.total }}…{% else %}Last grading of {{ grading.lab }}: {{ grading.total }} accounts in {{ grading.seconds }} s{% if grading.error %} ({{ grading.error }}){% endif %}.{% endif %}</p>{% endif %}
</section>

<section id="stuck" aria-label="Stuck">
<h2>Stuck <small>no new pass for {{ grid.stuck_minutes|round(0)|int }} min</small></h2>
{% if grid.stuck %}
<table><thead><tr><th>learner</th><th>lab</th><th>no pass for</th><th>last active</th><th>next task</th><th>last result</th><th>hints</th></tr></thead><tbody>
{% for row in grid.stuck %}
<tr data-testid="stuck-row"><td>{{ row.name }} <small>{{ row.learner }}</small></td><td>{{ row.lab }}</td><td>{{ row.minutes }} min</td>
<td>{{ (row.active_minutes_ago ~ ' min ago') if row.active_minutes_ago is not none else '' }}</td>
<td>{{ row.task_title or '' }} <small>{{ row.task or '' }}</small></td><td class="message">{{ row.message or row.status }}</td><td>{{ row.hints }}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p class="quiet">Nobody is stuck.</p>{% endif %}
</section>

<section id="grid" aria-label="Progress">
<h2>Progress</h2>
<div class="scroll"><table class="grid" data-testid="grid">
<thead>
<tr><th rowspan="2">learner</th>{% for lab in grid.labs %}<th colspan="{{ lab.tasks|length + 1 }}" class="lab">{{ lab.id }}</th>{% endfor %}<th rowspan="2">last request</th></tr>
<tr>{% for lab in grid.labs %}{% for task in lab.tasks %}<th class="task" title="{{ task.title }} ({{ task.points }} pt)">{{ loop.index }}</th>{% endfor %}<th>score</th>{% endfor %}</tr>
</thead>
<tbody>
{% for learner in grid.learners %}
<tr data-learner="{{ learner.id }}">
<th scope="row">{{ learner.name }} <small>{{ learner.id }}</small></th>
{% for lab in grid.labs %}{% set state = learner.labs[lab.id] %}
{% for task in lab.tasks %}{% set cell = state.tasks[task.id] %}
<td class="cell s-{{ 'pass' if cell.passed else cell.status }}{% if cell.passed and cell.status not in ('pass', 'none') %} regressed{% endif %}"
 data-learner="{{ learner.id }}" data-task="{{ lab.id }}:{{ task.id }}" data-status="{{ 'pass' if cell.passed else cell.status }}"
 title="{{ task.title }}: {{ cell.status }}{% if cell.message %} - {{ cell.message }}{% endif %}{% if cell.hints %} ({{ cell.hints }} hints){% endif %}">{{ {'pass': '✓', 'fail': '✗', 'error': '!', 'none': '·'}['pass' if cell.passed else cell.status] }}</td>
{% endfor %}
<td class="score{% if state.stuck %} stuck{% endif %}" data-testid="score">{{ state.score }}/{{ state.max_score }}</td>
{% endfor %}
<td class="seen">{{ clock(learner.last_seen) }}{% if learner.last_call %} <small>{{ learner.last_call }}</small>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table></div>
<p class="legend">✓ passed · ✗ failing · ! could not be checked · · not checked yet · dashed: passed before, failing now ·
a red score: stuck. Hover a cell for its latest message.</p>
</section>

<section id="items" aria-label="Checks">
<h2>Checks <small>item analysis</small></h2>
<table><thead><tr><th>lab</th><th>task</th><th>passed by</th><th>fail rate</th><th>median time to pass</th><th>hints</th><th>most common failure</th></tr></thead><tbody>
{% for item in grid['items'] %}
<tr data-testid="item-{{ item.lab }}:{{ item.task }}"><td>{{ item.lab }}</td><td>{{ item.title }} <small>{{ item.task }}</small></td>
<td>{{ item.learners_passed }}/{{ grid.cohort.learners }} <small>{{ item.learners_attempted }} checked</small></td>
<td>{{ ((item.fail_rate * 100)|round(0)|int ~ '%') if item.fail_rate is not none else '' }} <small>{{ item.checks }} checks</small></td>
<td>{{ duration(item.median_seconds_to_pass) }}</td>
<td>{{ item.hints }}{% if item.learners_with_hints %} <small>by {{ item.learners_with_hints }}</small>{% endif %}</td>
<td class="message">{% if item.common_failure %}{{ item.common_failure.message }} <small>({{ item.common_failure.learners }} learner{{ "s" if item.common_failure.learners != 1 }})</small>{% endif %}</td></tr>
{% endfor %}</tbody></table>
</section>
<p class="generated">Version {{ grid.version }} · generated {{ grid.generated_at }}</p>
"""

CSS = """
:root { --pass: #1a7f37; --fail: #cf222e; --error: #9a6700; --none: #8c959f; --bg: #fff; --fg: #1f2328; --muted: #656d76; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: baseline; padding: .75rem 1.25rem; border-bottom: 1px solid #d0d7de; }
header h1 { font-size: 1.2rem; margin: 0; }
header nav { margin-left: auto; display: flex; gap: 1rem; align-items: baseline; }
header nav form { display: inline; }
main { padding: 1rem 1.25rem; }
h2 { font-size: 1.05rem; margin: 1.2rem 0 .5rem; }
small, .quiet, .meta, .generated, .legend { color: var(--muted); }
code { font-size: .95em; }
.live { color: var(--pass); } .live::before { content: "● "; } .lost { color: var(--fail); }
#labs { display: flex; flex-wrap: wrap; gap: 1rem; }
.lab-card { border: 1px solid #d0d7de; border-radius: 6px; padding: .5rem .9rem; min-width: 18rem; flex: 1; }
.lab-card h2 { margin: .2rem 0; }
.lab-card progress { width: 100%; accent-color: var(--pass); }
.grading { flex-basis: 100%; color: var(--muted); }
table { border-collapse: collapse; }
th, td { padding: .25rem .5rem; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
.scroll { overflow-x: auto; }
table.grid th.lab { text-align: center; border-left: 2px solid #d0d7de; }
table.grid td.cell { text-align: center; font-weight: 600; width: 1.8rem; cursor: default; }
.s-pass { color: var(--pass); background: #dafbe1; } .s-fail { color: var(--fail); background: #ffebe9; }
.s-error { color: var(--error); background: #fff8c5; } .s-none { color: var(--none); }
.regressed { outline: 2px dashed var(--fail); outline-offset: -3px; }
td.score { white-space: nowrap; border-right: 2px solid #d0d7de; } td.stuck { color: var(--fail); font-weight: 600; }
td.message { max-width: 36rem; font-size: .9em; }
td.seen { white-space: nowrap; font-size: .9em; }
button { font: inherit; padding: .2rem .6rem; cursor: pointer; }
button.link { background: none; border: none; color: #0969da; padding: 0; }
.login main { max-width: 28rem; margin: 4rem auto; }
.login input { display: block; width: 100%; margin: .3rem 0 .8rem; padding: .4rem; font: inherit; }
.error { color: var(--fail); }
"""

JS = """'use strict';
(function () {
  const main = document.getElementById('dashboard');
  const live = document.getElementById('live-status');
  let etag = main.dataset.etag;
  async function poll() {
    try {
      const headers = etag ? { 'If-None-Match': etag } : {};
      const response = await fetch('/_cohort/partials/dashboard' + location.search,
        { headers, credentials: 'same-origin', cache: 'no-store' });
      if (response.status === 401) { location.assign('/_cohort/'); return; }
      if (response.status === 200) {
        etag = response.headers.get('ETag');
        main.innerHTML = await response.text();
      }
      live.textContent = 'Live · ' + new Date().toLocaleTimeString();
      live.className = 'live';
    } catch (error) {
      live.textContent = 'Connection lost, retrying…';
      live.className = 'lost';
    }
    setTimeout(poll, 1500);
  }
  document.addEventListener('click', async function (event) {
    const button = event.target.closest('[data-grade-lab]');
    if (!button) { return; }
    button.disabled = true;
    await fetch('/_cohort/api/check', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'lab-dashboard' },
      body: JSON.stringify({ lab: button.dataset.gradeLab }),
    });
  });
  setTimeout(poll, 1500);
}());
"""
