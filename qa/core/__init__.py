"""The bottom layer every other one uses: records, settings, text tools, errors, safe files."""
