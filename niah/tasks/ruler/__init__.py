"""RULER's tasks (Hsieh et al. 2024): the eight needle tasks, variable tracking, common
and frequent word extraction, and QA, registered as ``ruler/<task>``."""
