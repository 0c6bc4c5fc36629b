"""The course's own helpers: what a chapter calls first, the browser, catalog views, the site build
(site, book), the learner and solutions editions (editions, lab), the instructor guide's timings (guide) and the
hardening chapters' view of a fix's lines (fixes)."""
