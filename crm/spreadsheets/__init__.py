"""Spreadsheet files crossing the system's edge: `writing` writes every CSV and XLSX export, with
no cell a spreadsheet would evaluate. Imports no app."""
