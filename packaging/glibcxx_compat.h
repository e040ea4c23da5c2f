// Force-included into the addon's C++ files (CMakeLists.txt) so that the binaries load on the AWS Lambda Node.js
// runtimes (Amazon Linux 2023: libstdc++ of GCC 11, GLIBCXX_3.4.29). GCC 12's headers bind
// std::condition_variable::wait(unique_lock&) to its GLIBCXX_3.4.30 version, a re-export of the same function that
// libstdc++ has exported since GCC 4.5 as GLIBCXX_3.4.11: bind to that one instead. Only that symbol is above
// 3.4.29 here; the packaging test (objdump -T of every prebuilt binary) fails if another appears.
#pragma once
#include <cstddef>  // defines __GLIBCXX__ when the standard library is libstdc++
#if defined(__GLIBCXX__) && defined(__linux__)
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
        "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif
