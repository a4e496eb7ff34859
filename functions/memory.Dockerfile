# The rag and hybrid functions' image: LanceDB + pyarrow + ONNX Runtime + the embedding model
# are ~450 MB installed, over a zip function's 250 MB, so these two ship as one container image
# (10 GB limit); template.yaml picks the handler per function (ImageConfig.Command).
# Built by `sam build` (DockerContext: the repository root); needs a Docker engine.
FROM public.ecr.aws/lambda/python:3.12

# The core layer's pins, the memory's, and the model SDKs (the hybrid path asks a model).
COPY layers/requirements.txt /tmp/req/core.txt
COPY functions/memory-requirements.txt /tmp/req/memory.txt
COPY functions/llm/requirements.txt /tmp/req/llm.txt
COPY requirements-nodeps.txt /tmp/req/nodeps.txt
RUN pip install --no-cache-dir -r /tmp/req/core.txt -r /tmp/req/memory.txt -r /tmp/req/llm.txt \
    && pip install --no-cache-dir --no-deps --require-hashes -r /tmp/req/nodeps.txt \
    && rm -rf /tmp/req

COPY layers/tda ${LAMBDA_TASK_ROOT}/tda
COPY functions/rag/app.py ${LAMBDA_TASK_ROOT}/rag_app.py
COPY functions/hybrid/app.py ${LAMBDA_TASK_ROOT}/hybrid_app.py
# Bytecode compiled at build time: the task root is read-only at run time.
RUN python -m compileall -q ${LAMBDA_TASK_ROOT}

CMD ["rag_app.lambda_handler"]
