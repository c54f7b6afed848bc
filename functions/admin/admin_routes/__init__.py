"""AdminFunction's routes by concern, each a Powertools `Router` that app.py includes.

The package sits next to app.py (CodeUri functions/admin/), which Lambda puts on sys.path; its name is
AdminFunction's own so that it cannot shadow a sibling package of another function run in one process.
"""
