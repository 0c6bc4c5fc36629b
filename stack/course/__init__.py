"""The course's own helpers: what a chapter calls first, the browser, catalog views, the site build
(site, book), the learner and solutions editions (editions, lab) and the instructor guide's timings (guide)."""
