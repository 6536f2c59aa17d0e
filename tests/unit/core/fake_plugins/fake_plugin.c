/* Deliberately broken SMI plugins for plugin_host_test, one per FAKE_* define:
 *   FAKE_ABI2:       a table claiming ABI 2.0 (another major)
 *   FAKE_MINOR9:     ABI 1.9 (a minor newer than the host's 1.0)
 *   FAKE_NULL_TABLE: smi_plugin_get_api returns NULL (the plugin refuses the host)
 *   FAKE_NO_SYMBOL:  no smi_plugin_get_api at all */
#include "mlos/smi.h"

#ifndef FAKE_NO_SYMBOL
static smi_plugin_api table;

SMI_EXPORT const smi_plugin_api* smi_plugin_get_api(uint32_t host_major, uint32_t host_minor) {
  (void)host_major;
  (void)host_minor;
#ifdef FAKE_NULL_TABLE
  return 0;
#else
  table.size = sizeof(table);
#ifdef FAKE_ABI2
  table.abi_major = 2;
  table.abi_minor = 0;
#else
  table.abi_major = 1;
  table.abi_minor = 9;
#endif
  return &table;
#endif
}
#else
int fake_plugin_without_entry_point(void) { return 0; }
#endif
