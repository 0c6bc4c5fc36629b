"""The course's own helpers: what a chapter calls first, the browser, catalog views, and the site build."""
