// The simulator's own test module (label sim): timing, faults, errors, determinism.
#define BOOST_TEST_MODULE test_fabric_sim
#include <boost/test/unit_test.hpp>
