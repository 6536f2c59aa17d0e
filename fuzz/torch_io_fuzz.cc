// The TorchScript plugin's IO schema (torch_plugin::ReadIoSchema), read from the manifest JSON
// mlosd hands the plugin at load, over arbitrary text; a schema it accepts gives its tensors.
#include "fuzz/fuzz_util.h"
#include "mlos/smi_plugin.h"
#include "plugins/torch/io_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(mlos::fuzz::View(data, size));
  mlos::torch_plugin::IoSchema schema;
  smi_error* err = mlos::torch_plugin::ReadIoSchema(json.c_str(), &schema);
  if (err) {
    mlos::smi::FreeError(err);
    return 0;
  }
  (void)mlos::torch_plugin::SchemaTensors(schema.inputs);
  (void)mlos::torch_plugin::SchemaTensors(schema.outputs);
  return 0;
}
