"""Takes WebSocket upgrade requests on /ws and never answers them; other routes are fine."""

import threading

import app


class NoHandshake(app.Handler):
    def do_GET(self):
        if self.path == "/ws":
            self.close_connection = True
            threading.Event().wait()  # hold the connection open, silent, forever
        return super().do_GET()


app.serve(NoHandshake)
