/* guest: exits with the code given as its first argument */
#include "guest-runtime/beyond.h"

int main(int argc, char **argv)
{
	return argc > 1 ? (int)strtou64(argv[1], 0) : 0;
}
