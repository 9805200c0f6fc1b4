"""Tasks: what a trial's context holds and how an answer is scored (needle, many
needles, RULER's tasks, QA), behind one registry with a ``niah.tasks`` entry point."""
