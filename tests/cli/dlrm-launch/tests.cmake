# Dry runs lay out the full terabyte-40m model from a plan-only model
# directory (dlrm-shard --plan-only: manifest.json, no shard files).
if(TARGET dlrm-launch AND TARGET dlrm-shard)
  add_test(NAME launcher.dry_run
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dry_run.sh $<TARGET_FILE_DIR:dlrm-launch>
            $<TARGET_FILE:dlrm-shard> ${CMAKE_SOURCE_DIR}/hostfiles ${CMAKE_CURRENT_BINARY_DIR}/launcher_dry_run)
  set_tests_properties(launcher.dry_run PROPERTIES LABELS launcher TIMEOUT 120)
endif()
