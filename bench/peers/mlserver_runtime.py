"""An MLServer (Seldon, PyPI `mlserver`) inference runtime on ONNX Runtime, for the peer run of
bench/suite.sh. MLServer ships runtimes for scikit-learn, XGBoost, LightGBM, MLflow, Hugging Face
and others but none for ONNX on PyPI (`mlserver-onnx` does not exist), so this is the custom
runtime its docs describe ("Serving a custom model": subclass mlserver.MLModel, load in load(),
predict with NumpyCodec). The model file is the model's `parameters.uri`; the ONNX Runtime
intra-op thread count is `parameters.extra.intra_op_threads`."""
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        params = self.settings.parameters
        extra = (params.extra if params else None) or {}
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(extra.get("intra_op_threads", 1))
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(params.uri, so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        results = self.session.run(self.output_names, feeds)
        return InferenceResponse(
            model_name=self.name, id=payload.id,
            outputs=[NumpyCodec.encode_output(n, np.asarray(a)) for n, a in zip(self.output_names, results)])
