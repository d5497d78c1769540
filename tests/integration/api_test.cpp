#include <gtest/gtest.h>
TEST(placeholder, build) {}
