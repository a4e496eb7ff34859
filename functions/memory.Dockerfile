# The rag and hybrid functions' image: LanceDB + pyarrow + ONNX Runtime + the embedding model
# are ~450 MB installed, over a zip function's 250 MB, so these two ship as one container image
# (10 GB limit); template.yaml picks the handler per function (ImageConfig.Command).
# Built by `sam build` (DockerContext: the repository root); needs a Docker engine. Here, without
# one: scripts/try_images.py memory (podman, over a stand-in base).
FROM public.ecr.aws/lambda/python:3.12

# The core layer's pins, the memory's, and the model SDKs' layer (the hybrid path asks a model).
COPY layers/requirements.txt /tmp/req/core.txt
COPY functions/memory-requirements.txt /tmp/req/memory.txt
COPY layers/model-sdks.txt /tmp/req/sdks.txt
COPY requirements-nodeps.txt /tmp/req/nodeps.txt
RUN pip install --no-cache-dir -r /tmp/req/core.txt -r /tmp/req/memory.txt -r /tmp/req/sdks.txt \
    && pip install --no-cache-dir --no-deps --require-hashes -r /tmp/req/nodeps.txt \
    && rm -rf /tmp/req

COPY layers/tda ${LAMBDA_TASK_ROOT}/tda
COPY functions/rag/app.py ${LAMBDA_TASK_ROOT}/rag_app.py
COPY functions/hybrid/app.py ${LAMBDA_TASK_ROOT}/hybrid_app.py
# As the core layer is made (layers/build_layer.py): the bulk path's renderer compiled for this
# Python (gcc only for this step: installed and removed in one layer, so not shipped), the data
# files' JSON twins, the dataclass methods compiled, bytecode; the task root is read-only at run
# time. scripts/check_memory_image.py runs these same steps without a container engine.
COPY layers/build_layer.py /tmp/build_layer.py
RUN dnf install -y gcc \
    && python /tmp/build_layer.py image ${LAMBDA_TASK_ROOT} \
    && dnf remove -y gcc && dnf clean all && rm /tmp/build_layer.py

CMD ["rag_app.lambda_handler"]
