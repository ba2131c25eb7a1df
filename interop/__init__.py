"""Exchange formats at the edge of the flow: suites out to Inspect AI, HealthBench and GDPval,
tasks in from HealthBench and GDPval, and Inspect eval logs in as runs to grade.

It sits downstream of every stage it reads (tasks, prompts, judges), so nothing imports it.
"""
