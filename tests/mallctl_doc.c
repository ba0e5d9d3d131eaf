/*
 * mallctl_doc.c - prints the mallctl name table of docs/mallctl.md from
 * the tree in src/mallctl.c; tests/mallctl_doc.sh checks the document.
 */
#include <stdio.h>

#include "mallctl.h"

static void out(void *opaque, const char *text) {
    (void)opaque;
    fputs(text, stdout);
}

int main(void) {
    frg_mallctl_doc(out, NULL);
    return 0;
}
