"""The bundled policy packs as YAML data files (a package so that the files ship in the wheel)."""
