# Writes a C file with every migration as a string, in file-name order:
#   const struct store_migration store_migrations[]; size_t store_migrations_count;
separate_arguments(files UNIX_COMMAND "${FILES}")
set(body "#include <stddef.h>\n#include \"store/migrations.h\"\n\nconst struct store_migration store_migrations[] = {\n")
set(count 0)
foreach(f ${files})
  get_filename_component(name ${f} NAME_WE)
  string(REGEX MATCH "^[0-9]+" ver "${name}")
  math(EXPR ver "${ver}") # decimal: "0008" is no octal constant in C
  file(READ ${f} sql HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," sql "${sql}")
  string(APPEND body "  { ${ver}, \"${name}\", (const char[]){ ${sql} 0x00 } },\n")
  math(EXPR count "${count}+1")
endforeach()
string(APPEND body "};\nconst size_t store_migrations_count = ${count};\n")
file(WRITE ${OUT} "${body}")
