// Boost.JSON compiled here, with the fuzzers' sanitizer flags (the system library is not instrumented).
#include <boost/json/src.hpp>
