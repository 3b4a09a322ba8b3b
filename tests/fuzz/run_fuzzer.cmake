# SPDX-License-Identifier: Apache-2.0
# Runs one libFuzzer target for CTest (see the SA_FUZZ block of the top-level
# CMakeLists.txt): copy the committed corpus into a fresh scratch directory,
# run every input of it first, then fuzz for SECONDS; fail on any crash.
#   cmake -DFUZZER=exe -DCORPUS=dir -DWORKDIR=dir -DSECONDS=n -DMAX_LEN=n -P this
foreach(var FUZZER CORPUS WORKDIR SECONDS MAX_LEN)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}= is required")
  endif()
endforeach()
if(NOT IS_DIRECTORY "${CORPUS}")
  message(FATAL_ERROR "no seed corpus at ${CORPUS}")
endif()

file(REMOVE_RECURSE "${WORKDIR}")
file(MAKE_DIRECTORY "${WORKDIR}/corpus")
file(GLOB seeds "${CORPUS}/*")
file(COPY ${seeds} DESTINATION "${WORKDIR}/corpus")

# -timeout: one input taking this long is a hang, reported as a failure.
set(common -max_len=${MAX_LEN} -timeout=20 -rss_limit_mb=2048
  -artifact_prefix=${WORKDIR}/ -print_final_stats=1)
if(SECONDS EQUAL 0)
  # Replay only: each committed input once.
  file(GLOB inputs "${WORKDIR}/corpus/*")
  set(args ${common} ${inputs})
else()
  set(args ${common} -max_total_time=${SECONDS} "${WORKDIR}/corpus")
endif()
execute_process(COMMAND "${FUZZER}" ${args}
  WORKING_DIRECTORY "${WORKDIR}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB artifacts "${WORKDIR}/crash-*" "${WORKDIR}/leak-*"
    "${WORKDIR}/timeout-*" "${WORKDIR}/oom-*")
  message(FATAL_ERROR "${FUZZER} failed (${rc}); inputs: ${artifacts}")
endif()
