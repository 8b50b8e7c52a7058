"""A TLS endpoint in front of a Docker engine's unix socket, requiring a client
certificate signed by the given CA: what `dockerd --tlsverify` asks of its clients.
Used by tests/docker_tls.rs. Usage: tls_proxy.py PORT CERT KEY CA SOCKET"""
import asyncio
import ssl
import sys

port, cert, key, ca, socket_path = sys.argv[1:6]


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def serve(client_reader, client_writer):
    try:
        engine_reader, engine_writer = await asyncio.open_unix_connection(socket_path)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, engine_writer), pipe(engine_reader, client_writer))


async def main():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = await asyncio.start_server(serve, "127.0.0.1", int(port), ssl=context)
    async with server:
        await server.serve_forever()


asyncio.run(main())
