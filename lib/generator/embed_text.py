#!/usr/bin/env python3
"""Embeds a text file as a C++ function returning std::string_view (build step).

    embed_text.py INPUT OUTPUT.cpp FUNCTION_NAME
"""
import sys

src, out, name = sys.argv[1:4]
with open(src, encoding="utf-8") as f:
    text = f.read()
delimiter = "sipshield_embed"
assert ")" + delimiter not in text
with open(out, "w", encoding="utf-8") as f:
    f.write("// Generated from %s by lib/generator/embed_text.py: do not edit.\n" % src)
    f.write("#include <string_view>\nnamespace sipshield {\n")
    f.write("std::string_view %s() {\n  return R\"%s(%s)%s\";\n}\n" % (name, delimiter, text, delimiter))
    f.write("}  // namespace sipshield\n")
