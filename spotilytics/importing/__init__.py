"""Import and export that staff can trust.

- `reading`: bytes to a table of text cells (CSV dialect, encoding and BOM detection, XLSX).
- `headers`: header aliases, so public catalog layouts import without editing the file.
- `problems`: every failure as a line, a column and a plain-language reason.
- `resources`: the base resource and widgets with plain error messages.
- `runner`: the all-or-nothing import, shared by the admin and `import_catalog`.
- `exporting`: formula neutralisation and streamed CSV / write-only XLSX exports.
- `admin`: the admin mixins (unfold forms) and the read-only import log admin.
"""
