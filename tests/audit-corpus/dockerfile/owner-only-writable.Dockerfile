# expect: NRD007@3
FROM nginx
RUN chown -R 4242 /var/log/nginx /var/cache/nginx && chmod 1777 /var/run
USER 4242
