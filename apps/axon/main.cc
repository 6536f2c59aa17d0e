#include <cstdio>
int main() { std::puts("axon"); return 0; }
