"""manage.py commands, and the batch side's private modules (`_pool_fill`, `_leakage`: names with a leading
underscore are not commands). This package is the one part of `survey/` that imports the generator (and
so torch), always inside a function; the web process never imports it."""
