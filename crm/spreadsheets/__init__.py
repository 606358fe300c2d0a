"""Spreadsheet files crossing the system's edge, both ways: `writing` (every CSV and XLSX export:
no cell a spreadsheet would evaluate) and `reading` (every import: bounded before parsing, then
streamed). Imports no app."""
