# Test registrations. Unit tests live beside the code (src/<module>/foo_test.cc);
# cross-module tests (conformance, CLI end-to-end) live in tests/.

# --- model library (src/model)
medtwin_test(model_test src/model/model_test.cc)
medtwin_test(model_pk_models_test src/model/pk_models_test.cc)
medtwin_test(model_vancomycin_test src/model/vancomycin_test.cc)
medtwin_test(model_pd_models_test src/model/pd_models_test.cc)
medtwin_test(model_registry_test src/model/registry_test.cc)
medtwin_test(model_bergman_test src/model/bergman_test.cc)
medtwin_test(model_tumour_growth_test src/model/tumour_growth_test.cc)
medtwin_test(model_warfarin_test src/model/warfarin_test.cc)
medtwin_test(model_viral_test src/model/viral_test.cc)
medtwin_test(model_t1d_uvapadova_test src/model/t1d_uvapadova_test.cc)
medtwin_test(model_cardiovascular_test src/model/cardiovascular_test.cc)
medtwin_test(model_variability_test src/model/variability_test.cc)

# --- events / dataset reader (src/events)
medtwin_test(dataset_test src/events/dataset_test.cc)

# --- simulator (src/sim)
medtwin_test(simulator_test src/sim/simulator_test.cc)
medtwin_test(population_test src/sim/population_test.cc)
medtwin_test(state_history_test src/sim/state_history_test.cc)
medtwin_test(sensitivity_test src/sim/sensitivity_test.cc)
medtwin_test(closed_form_test src/sim/closed_form_test.cc)
medtwin_test(cgm_sensor_test src/sim/cgm_sensor_test.cc)

# --- cross-module: conformance and CLI
medtwin_test(nmtests_conformance_test tests/nmtests_conformance_test.cc)
if(TARGET medtwin)
  medtwin_test(cli_test tests/cli_test.cc)
  add_dependencies(cli_test medtwin)
  target_link_libraries(cli_test PRIVATE nlohmann_json::nlohmann_json)
endif()

# --- SBML (src/sbml)
medtwin_test(sbml_expr_test src/sbml/expr_test.cc)
target_link_libraries(sbml_expr_test PRIVATE PkgConfig::LIBSBML)

# --- SBML test suite
medtwin_test(sbml_test_suite_test src/sbml/test_suite_test.cc)
medtwin_test(sbml_conformance_test tests/sbml_conformance_test.cc)
medtwin_test(sbml_model_test src/sbml/sbml_model_test.cc)

# --- estimation (src/estimate)
medtwin_test(estimate_test src/estimate/estimate_test.cc)
target_link_libraries(estimate_test PRIVATE PkgConfig::NLOPT)
medtwin_test(gradient_test src/estimate/gradient_test.cc)

# --- decisions (src/decide)
medtwin_test(forecast_test src/decide/forecast_test.cc)
medtwin_test(dose_test src/decide/dose_test.cc)
medtwin_test(dose_search_test src/decide/dose_search_test.cc)
medtwin_test(whatif_test src/decide/whatif_test.cc)
medtwin_test(assimilate_test src/estimate/assimilate_test.cc)
medtwin_test(correlated_error_test src/estimate/correlated_error_test.cc)
medtwin_test(assimilate_model_error_test src/estimate/assimilate_model_error_test.cc)
target_link_libraries(assimilate_model_error_test PRIVATE nlohmann_json::nlohmann_json)
medtwin_test(twin_test src/twin/twin_test.cc)
medtwin_test(store_test src/store/store_test.cc)
target_link_libraries(store_test PRIVATE medtwin_store)

# --- FHIR R4 (src/fhir)
function(medtwin_fhir_test name)
  medtwin_test(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE medtwin_fhir)
endfunction()
medtwin_fhir_test(fhir_test src/fhir/fhir_test.cc)
medtwin_fhir_test(fhir_map_test src/fhir/fhir_map_test.cc)
medtwin_fhir_test(fhir_map_models_test tests/fhir_map_models_test.cc)
medtwin_fhir_test(fhir_bundle_test src/fhir/bundle_test.cc)
medtwin_fhir_test(fhir_synthea_test tests/fhir_synthea_test.cc)
target_link_libraries(fhir_synthea_test PRIVATE nlohmann_json::nlohmann_json)
medtwin_test(server_test src/server/server_test.cc)
target_link_libraries(server_test PRIVATE medtwin_server PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
medtwin_test(twin_server_test src/server/twin_service_test.cc)
target_link_libraries(twin_server_test PRIVATE medtwin_server PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
medtwin_test(demo_ward_test src/server/demo_ward_test.cc)
target_link_libraries(demo_ward_test PRIVATE medtwin_server)
medtwin_test(demo_feed_test src/server/demo_feed_test.cc)
target_link_libraries(demo_feed_test PRIVATE medtwin_server PkgConfig::HTTPLIB nlohmann_json::nlohmann_json)
if(TARGET medtwin)
  # SIGKILLs the real `medtwin serve` (a child process) while clients write, many times.
  medtwin_test(server_crash_test src/server/server_crash_test.cc)
  add_dependencies(server_crash_test medtwin)
  target_link_libraries(server_crash_test PRIVATE medtwin_store PkgConfig::HTTPLIB
    nlohmann_json::nlohmann_json Threads::Threads)
endif()
medtwin_test(assimilate_physiology_test src/estimate/assimilate_physiology_test.cc
  src/estimate/twin_experiment.cc)
medtwin_test(twin_anomaly_test src/twin/twin_anomaly_test.cc src/estimate/twin_experiment.cc)

# --- estimation on a public dataset: maximum likelihood vs SciPy least squares (tests/theoph_ols.py)
if(TARGET medtwin)
  add_test(NAME theoph_ols_scipy
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/theoph_ols.py $<TARGET_FILE:medtwin>
                   ${CMAKE_SOURCE_DIR}/data/theoph/theoph.csv)
endif()
