/*
 * options_doc.c - prints the options table as the markdown table of
 * docs/options.md; tests/options_doc.sh checks the document against it so
 * the documentation cannot drift from the code.
 */
#include <stdio.h>

#include "options.h"

int main(void) {
    printf("| option | type | default | range | effect |\n| --- | --- | --- | --- | --- |\n");
    for (unsigned i = 0; i < frg_option_count; i++) {
        const struct frg_option_desc *d = &frg_option_table[i];
        char def[64], range[96];
        switch (d->type) {
        case FRG_OPT_BOOL:
            snprintf(def, sizeof def, "%s", d->def ? "true" : "false");
            snprintf(range, sizeof range, "true, false");
            break;
        case FRG_OPT_ENUM:
            frg_option_enum_name(d, d->def, def, sizeof def);
            snprintf(range, sizeof range, "%s", d->values);
            for (char *p = range; *p; p++)
                if (*p == '|')
                    *p = '/';
            break;
        default:
            if (d->def == FRG_OPT_AUTO)
                snprintf(def, sizeof def, "auto");
            else
                snprintf(def, sizeof def, "%llu", (unsigned long long)d->def);
            snprintf(range, sizeof range, "%s%llu – %llu", d->def == FRG_OPT_AUTO ? "auto, " : "",
                     (unsigned long long)d->min, (unsigned long long)d->max);
        }
        const char *type = d->type == FRG_OPT_BOOL ? "bool"
                         : d->type == FRG_OPT_SIZE ? "bytes (k/M/G suffix)"
                         : d->type == FRG_OPT_ENUM ? "choice" : "integer";
        printf("| `%s` | %s | %s | %s | %s |\n", d->name, type, def, range, d->doc);
    }
    return 0;
}
