# escape=`
# expect: NRD003@7
FROM example.test/windows/servercore
USER 1000
RUN dir c:\ `
    && echo done
USER 0
