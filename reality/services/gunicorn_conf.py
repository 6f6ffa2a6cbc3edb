"""gunicorn settings of the three services: a hook around each connection a sync worker handles,
so that a server span covers the worker's whole time on the request (see zipkin.CONNECTION).

Without it the spans start when Flask is called: the worker's reading and parsing of the
request and its closing of the connection (about a millisecond per request on this machine)
would look like network time, which holds no worker, and a model imported from them would
see the gateway's workers free for longer than they are."""


def post_worker_init(worker):
    import zipkin  # the app's own module (importable once gunicorn has chdir'ed to services/)

    handle = worker.handle

    def traced_handle(listener, client, addr):
        zipkin.connection_accepted()
        try:
            handle(listener, client, addr)
        finally:
            zipkin.connection_closed()

    worker.handle = traced_handle
