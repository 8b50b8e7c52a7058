# The heredoc's lines are a script, not instructions: `USER root` in it is text.
# expect: NRD005@4
FROM ubuntu
RUN <<EOF
USER root
chmod u+s /usr/local/bin/tool
EOF
RUN <<-"END" bash
	echo done
	END
USER 4242
