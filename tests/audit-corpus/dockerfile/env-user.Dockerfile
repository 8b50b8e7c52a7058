# ENV wins over ARG of the same name.
# expect: none
FROM ubuntu
ARG APP_UID=0
ENV APP_UID=1000
USER ${APP_UID}
