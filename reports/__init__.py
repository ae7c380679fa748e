"""Reports: read the store, write curves, tables and the comparison report.

Importing this package only registers its command and hook (cheap); the report code is imported
when they run.
"""
from harness.registry import register_after_run, register_command

register_command("report", help="write the comparison report (harness report --help)",
                 target="reports.cli:main")
register_after_run("comparison-report", target="reports.comparison:write_report_after_run")
