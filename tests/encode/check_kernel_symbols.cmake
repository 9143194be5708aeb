# Every symbol a per-level kernel object defines for the linker must live in that level's
# namespace <NAMESPACE><level> (NAMESPACE defaults to ramq::simd::; the analysis kernels use
# ramq::analyze_simd::): an inline function or template instantiation compiled with AVX-512 flags
# that the linker could merge into portable code would crash CPUs without it.
# Run by CTest: cmake -DNM=... -DLEVEL=avx2 [-DNAMESPACE=ramq::analyze_simd::] -DOBJECTS="a.o|b.o"
#   -P check_kernel_symbols.cmake
if(NOT DEFINED NAMESPACE)
  set(NAMESPACE "ramq::simd::")
endif()
string(REPLACE "|" ";" objects "${OBJECTS}")
set(bad "")
foreach(obj IN LISTS objects)
  execute_process(COMMAND ${NM} -C --defined-only --extern-only ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${obj}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    # Skipped: empty lines, AddressSanitizer's ODR-indicator globals (__odr_asan.<symbol>) and
    # the unwinder's reference to the C++ personality routine (DW.ref.__gxx_personality_v0):
    # data the compiler adds, no code compiled for the level.
    if(line STREQUAL "" OR line MATCHES " __odr_asan\\." OR line MATCHES " DW\\.ref\\.__gxx_personality_v0$")
      continue()
    endif()
    if(NOT line MATCHES "^[0-9a-fA-F]* *[A-Za-z] ${NAMESPACE}${LEVEL}::")
      string(APPEND bad "  ${obj}: ${line}\n")
    endif()
  endforeach()
endforeach()
if(NOT bad STREQUAL "")
  message(FATAL_ERROR "symbols outside ${NAMESPACE}${LEVEL}:\n${bad}")
endif()
message(STATUS "${LEVEL}: all symbols in ${NAMESPACE}${LEVEL}")
